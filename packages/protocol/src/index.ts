export * from './errors.js';
export * from './limits.js';
export * from './ids.js';
export * from './frames.js';
export * from './rest.js';
export * from './text.js';
export * from './json-depth.js';
