export * from './types';
export * from './records';
export * from './prepare';
export * from './operation';
