/** Public API of the pure planner core (no I/O): see docs/planner.md. */
export * from './types';
export * from './mapping';
export * from './template-mappings';
export * from './plan';
export * from './schema';
