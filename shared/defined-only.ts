type UndefinedKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

/** `T` with every property that may hold undefined made optional instead (absent, or a value). */
export type DefinedOnly<T> = {
  [K in keyof T as K extends UndefinedKeys<T> ? never : K]: T[K];
} & {
  [K in UndefinedKeys<T>]?: Exclude<T[K], undefined>;
};

/** A copy without undefined-valued properties (exactOptionalPropertyTypes: an optional one is absent or set). */
export function definedOnly<T extends object>(value: T): DefinedOnly<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as DefinedOnly<T>;
}
