// Types for the vendored file: the npm package's own, resolved by tsconfig paths.
export * from 'preact';
