// Starts Swagger UI. It lives in a file of its own, not inline in the page,
// so that the page's Content-Security-Policy allows only script-src 'self'.
// The spec's URL comes from the page (data-spec-url); a path-only URL is
// fetched from the server that served the page, so "Try it out" calls it.
window.addEventListener('load', function () {
  var el = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: el.dataset.specUrl,
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    // BaseLayout has no top bar: its URL box would let a visitor load any
    // document, which connect-src 'self' refuses anyway.
    layout: 'BaseLayout',
    showExtensions: true,
    showCommonExtensions: true,
    // The public validator badge would fetch from swagger.io.
    validatorUrl: null,
    // The schemas section collapsed rather than hidden: the schemas carry
    // most of the contract's documentation.
    defaultModelsExpandDepth: 0,
    displayOperationId: true,
  });
});
