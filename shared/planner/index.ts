/** Public API of the pure planner core (no I/O): see docs/planner.md. */
export * from './types';
export {
  MappingError,
  evaluateParam,
  evaluateValue,
  isOutputKeyMapping,
  type MappingContext,
  type Evaluated,
} from './mapping';
export {
  parseTemplateMappings,
  chainFor,
  templateMappingFor,
  TemplateMappingsError,
  BUILTIN_DEFAULT_CHAIN,
} from './template-mappings';
export {
  planChange,
  changeAction,
  keyDeleteChange,
  chooseTemplate,
  readCompleteState,
  randomSuffix,
  PlanError,
  type PlanInput,
  type PlanResult,
  type PlannedJob,
  type ReadCompleteState,
} from './plan';
export { SchemaIndex, defaultSchemaIndex, type SchemaData } from './schema';
