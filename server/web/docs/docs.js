// Starts Swagger UI on /docs over this server's /openapi.json. "Authorize" takes an API key (the bearer
// scheme of the document); "Try it out" then runs each operation against this server. No request leaves
// this origin: the online validator badge is off.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  persistAuthorization: false,
  validatorUrl: null,
});
