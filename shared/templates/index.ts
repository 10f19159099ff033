export {
  DEFAULT_TEMPLATES_ROOT,
  TemplateLoadError,
  loadHeatTemplatesDir,
  loadTemplateMappingsFile,
  loadTemplates,
  parseHeatTemplateYaml,
  toHeatTemplate,
} from './load';
export type { HeatTemplate, LoadedTemplates } from './load';
export {
  HotParseError,
  JINJA_PREFIX,
  TemplateRenderError,
  WORKER_PARAMS,
  parseHot,
  renderHotTemplate,
  splitJobParams,
  templateVariables,
  validateHot,
} from './render';
