"""Stand-ins for the custom resource types of the templates (OS::Contrail::*, ESI::*) in a local Heat.

Heat's own OS::Heat::None accepts any properties but answers every attribute with null; this
type keeps the resolved properties of its last create or update and answers an attribute with
the property of that name, or a plausible value shaped like the record's stack outputs. The
stack lifecycle (create, update, delete, tags, times, outputs, failures) stays Heat's own.
"""
import hashlib
import json
import time
import uuid

from heat.common import exception

from heat.engine import attributes
from heat.engine import function
from heat.engine import properties
from heat.engine.resources.openstack.heat import none_resource

PROPS = 'esi_properties'


class EsiStub(none_resource.NoneResource):
    """Any properties; attributes from them."""

    def _store(self, definition):
        resolved = function.resolve(definition._properties) or {}
        self.data_set(PROPS, json.dumps(resolved, sort_keys=True, default=str))

    def _needs_update(self, after, before, after_props, before_props,
                      prev_resource, check_init_complete=True):
        return after != before

    def handle_create(self):
        if 'esi-fail' in self.stack.name:
            raise exception.Error('the stack name asks this resource to fail (esi-fail)')
        self.resource_id_set(str(uuid.uuid4()))
        self._store(self.t)
        return time.time()

    def check_create_complete(self, started):
        if 'esi-hang' in self.stack.name:
            return False
        if 'esi-slow' in self.stack.name:
            return time.time() - started >= 20
        return True

    def _prepare_update_props(self, after, before):
        # Any properties: nothing to validate against a schema.
        return (properties.Properties(schema={}, data={}),
                properties.Properties(schema={}, data={}))

    def handle_update(self, json_snippet, tmpl_diff, prop_diff):
        self._store(json_snippet)

    def handle_delete(self):
        return self.resource_id

    def _props(self):
        try:
            return json.loads(self.data().get(PROPS) or '{}')
        except ValueError:
            return {}

    def _value(self, key):
        props = self._props()
        rid = self.resource_id or ''
        if key == 'id':
            return rid
        if key == 'link':
            return props.get('link') or '/targets/%s' % rid
        if key == 'fq_name':
            return 'default-domain:%s:%s' % (self.stack.context.project_name or 'project', rid)
        if key == 'name':
            return props.get('name') or '%s-%s-%s' % (
                self.stack.name, self.name, hashlib.sha256(rid.encode()).hexdigest()[:12])
        if key == 'show':
            return dict(props, id=rid)
        if key.endswith('mac_addresses'):
            given = [m for m in props.get(key) or [] if isinstance(m, str)]
            digest = hashlib.sha256(rid.encode()).hexdigest()
            return given or ['02:%s:%s:%s:%s:%s' % (digest[0:2], digest[2:4], digest[4:6], digest[6:8], digest[8:10])]
        return props.get(key)

    def get_attribute(self, key, *path):
        return attributes.select_from_attribute(self._value(key), path)


def resource_mapping():
    return {'Stub::ESI::Resource': EsiStub}
