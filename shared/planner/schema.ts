/** Gohan schema facts for the mapping language: plurals, URL prefixes, id-field relations (docs/planner.md). */
import gohanSchemas from './gohan-schemas.json';

export interface SchemaData {
  schemas: Array<{ id: string; plural: string; prefix?: string }>;
  /** idField → type, valid on every schema. */
  field_relations?: Record<string, string>;
  /** type → idField → type; wins over field_relations. */
  relations?: Record<string, Record<string, string>>;
}

export class SchemaIndex {
  private readonly bySingular: Map<string, SchemaData['schemas'][number]>;
  private readonly toSingular = new Map<string, string>();

  constructor(private readonly data: SchemaData) {
    this.bySingular = new Map(data.schemas.map((s) => [s.id, s]));
    for (const s of data.schemas) {
      // Two schemas share the plural `extensions`; the first (Gohan's own) is not a resource.
      if (!this.toSingular.has(s.plural) || s.prefix?.startsWith('/v2.0/')) this.toSingular.set(s.plural, s.id);
    }
  }

  plural = (singular: string): string | undefined => this.bySingular.get(singular)?.plural;
  singular = (plural: string): string | undefined => this.toSingular.get(plural);
  /** e.g. `/v2.0/ports` or `/common/v1.0/tenants`. */
  prefix = (singular: string): string | undefined => this.bySingular.get(singular)?.prefix || undefined;

  /** Resource type an id field points at (`vnf_instance_id` → `vnf_instance`). */
  relation(type: string | undefined, idField: string): string | undefined {
    const own = type ? this.data.relations?.[type]?.[idField] : undefined;
    const named = idField.endsWith('_id') ? idField.slice(0, -3) : undefined;
    return own || this.data.field_relations?.[idField] || (named && this.bySingular.has(named) ? named : undefined);
  }
}

/** The schema index shipped with the planner (75 Gohan schemas of the record). */
export const defaultSchemaIndex = (): SchemaIndex => new SchemaIndex(gohanSchemas);
