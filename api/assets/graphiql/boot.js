// Boot script for remedy's GraphiQL page (served at /graphiql/boot.js).
// Kept out of index.html so that a Content-Security-Policy of
// `script-src 'self'` works: the page has no inline script or handler.
(function () {
  'use strict';

  // Full-height layout, set through the CSSOM (not an inline <style>),
  // so a strict style-src does not block it.
  var fill = [document.documentElement, document.body];
  for (var i = 0; i < fill.length; i++) {
    fill[i].style.height = '100%';
    fill[i].style.margin = '0';
  }
  var container = document.getElementById('graphiql');
  container.style.height = '100vh';
  container.textContent = '';

  // Same host and port as the page; wss: when the page came over TLS, else ws:.
  var wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var subscriptionUrl = wsScheme + '//' + window.location.host + '/graphql/ws';

  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    subscriptionUrl: subscriptionUrl,
  });

  var defaultQuery = [
    '# remedy: regulators, their orders and the progress of each.',
    '# Paste a token printed by `remedy serve --demo` in the Headers tab below.',
    '{',
    '  regulators {',
    '    nodes {',
    '      code',
    '      nameLocal',
    '      orders {',
    '        nodes {',
    '          reference',
    '          title',
    '          status',
    '          progress { total implemented verified overdue percentImplemented }',
    '        }',
    '      }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');

  var defaultHeaders = JSON.stringify(
    { Authorization: 'Bearer <paste a token printed by remedy serve --demo>' },
    null,
    2
  );

  var root = ReactDOM.createRoot(container);
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultHeaders: defaultHeaders,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
