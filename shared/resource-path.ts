/** A resource's etcd path from the Gohan singular or plural that jobs and collector targets carry. */
import type { ResourcePath } from './keys';
import { defaultSchemaIndex } from './planner/schema';

const schema = defaultSchemaIndex();

export function pathOfSingular(singular: string, id: string): ResourcePath {
  return withScope(schema.plural(singular) ?? `${singular}s`, singular, id);
}

export function pathOfPlural(plural: string, id: string): ResourcePath {
  return withScope(plural, schema.singular(plural), id);
}

function withScope(plural: string, singular: string | undefined, id: string): ResourcePath {
  const prefix = (singular && schema.prefix(singular)) ?? `/v2.0/${plural}`;
  const scope = prefix.replace(/^\//, '').replace(new RegExp(`/${plural}$`), '') || 'v2.0';
  return { scope, plural, id };
}
