// Starts Swagger UI (app/api_docs.py) on the schema beside this page. The URL is relative to the page, so the
// same page works at the root of a local server and under an API Gateway stage path. No validator badge: it
// would load an image from validator.swagger.io, which the page's CSP refuses.
"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
