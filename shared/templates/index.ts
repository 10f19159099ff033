export * from './load';
export * from './render';
