// The file that holds the log's signing key (LEDGER_SIGNING_KEY_FILE): one signer key line
// (eventstore/signed_note.h), readable by its owner only.
#pragma once

#include <string>

#include "eventstore/signed_note.h"
#include "eventstore/status.h"

namespace ledger {

// Creates `path` (mode 0600; never overwrites: AlreadyExists-style Invalid when it exists) holding the key.
Status write_signing_key_file(const std::string& path, const NoteSigner& signer);

// Reads the key. Invalid when the file is missing or unreadable, when group or others may read or write it
// (as ssh refuses such keys), or when its content is not a signer key.
Status read_signing_key_file(const std::string& path, NoteSigner* out);

}  // namespace ledger
