type UndefinedKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

/** `T` with every property that may hold undefined made optional instead (absent, or a value). */
export type DefinedOnly<T> = {
  [K in keyof T as K extends UndefinedKeys<T> ? never : K]: T[K];
} & {
  [K in UndefinedKeys<T>]?: Exclude<T[K], undefined>;
};

/**
 * A copy of a plain object without its undefined-valued properties. Options and records are built
 * from values that may be missing (`{ revision: opts.revision }`); an optional property is either
 * absent or holds a value (exactOptionalPropertyTypes), so the missing ones are left out here.
 */
export function definedOnly<T extends object>(value: T): DefinedOnly<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as DefinedOnly<T>;
}
