// Types for the vendored htm (the npm package's own dist/htm.d.ts, resolved by tsconfig paths).
export { default } from 'htm';
