#include "eventstore/signing_key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ledger {

Status write_signing_key_file(const std::string& path, const NoteSigner& signer) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Invalid("cannot create " + path + ": " + std::strerror(errno) +
                           (errno == EEXIST ? " (a key is never overwritten: remove it first if you mean to)" : ""));
  }
  const std::string text = format_signer_key(signer) + "\n";
  bool ok = ::fchmod(fd, 0600) == 0;
  std::size_t written = 0;
  while (ok && written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return Status::Invalid("cannot write " + path + ": " + std::strerror(saved));
  }
  return Status::Ok();
}

Status read_signing_key_file(const std::string& path, NoteSigner* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Invalid("cannot open signing key file " + path + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Invalid("signing key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Invalid("signing key file " + path + " is accessible to others (mode " + mode + "): chmod 600 it");
  }
  std::string text(4096, '\0');
  std::size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size == text.size()) return Status::Invalid("signing key file " + path + " is larger than a key");
  text.resize(size);
  Status s = parse_signer_key(text, out);
  if (!s.ok()) return Status::Invalid("signing key file " + path + ": " + s.message());
  return Status::Ok();
}

}  // namespace ledger
