'use strict';
/**
 * Serverless plugin for deployed stages:
 *  - before anything is packaged, checks the stage's settings (settings.js) and stops with a
 *    message naming each missing or unsafe one; the local stack (local=true) never packages, so a
 *    package or deploy with local=true is refused too (offline and invoke local do not come here);
 *  - once the template is complete (serverless.yml's resources merged), adds what every function
 *    and queue gets (operations.js): VPC placement, alarms, the dashboard, VPC endpoints, outputs,
 *    tags.
 * The resolved settings come from serverless.yml `custom.settings`.
 */
const { settingsProblems, settingsMessage, relayWarning } = require('./settings');
const { addOperations } = require('./operations');

class DeployPlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.log = utils?.log;
    this.hooks = {
      'before:package:initialize': () => this.check(),
      'before:package:function:package': () => this.check(),
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.complete(),
    };
  }

  settings() {
    const service = this.serverless.service;
    return {
      ...(service.custom?.settings || {}),
      stage: service.provider.stage,
      tags: service.provider.stackTags || {},
    };
  }

  check() {
    const s = this.settings();
    const problems = settingsProblems(s);
    if (problems.length) throw new this.serverless.classes.Error(settingsMessage(s.stage, problems));
    const warning = relayWarning(s);
    if (warning) (this.log?.warning ?? console.warn)(warning);
  }

  complete() {
    addOperations(this.serverless.service.provider.compiledCloudFormationTemplate, this.settings());
  }
}

module.exports = DeployPlugin;
