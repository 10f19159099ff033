"""Stand-ins for the custom resource types of the templates (OS::Contrail::*, ESI::*) in a local Heat.

Heat's own OS::Heat::None accepts any properties but answers every attribute with null; this
type keeps the resolved properties of its last create or update and answers an attribute with
the property of that name, or a plausible value shaped like the record's stack outputs. The
stack lifecycle (create, update, delete, tags, times, outputs, failures) stays Heat's own.
"""
import hashlib
import json
import os
import urllib.error
import urllib.request
import time
import uuid

from heat.common import exception

from heat.engine import attributes
from heat.engine import constraints
from heat.engine import function
from heat.engine import properties
from heat.engine.resources.openstack.heat import none_resource

PROPS = 'esi_properties'
TARGET = 'target'
MONITORING_TARGET = 'ESI::Monitoring::MonitoringTarget'


def _collector():
    name = os.environ.get('ESI_STUB_COLLECTOR_FILE')
    try:
        with open(name) as f:
            return f.read().strip().rstrip('/') or None
    except (TypeError, OSError):
        return None


def _call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            text = res.read()
            return res.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, None


class EsiStub(none_resource.NoneResource):
    """Any properties; attributes from them."""

    def _store(self, definition):
        resolved = function.resolve(definition._properties) or {}
        self.data_set(PROPS, json.dumps(resolved, sort_keys=True, default=str))
        if self.type() == MONITORING_TARGET:
            self._register(json.loads(json.dumps(resolved, default=str)))

    def _register(self, props):
        base = _collector()
        if base is None:
            return
        status, body = _call('POST', base + '/targets', props)
        if status != 201 or not isinstance(body, dict) or 'id' not in body:
            raise exception.Error('collector answered %s to POST /targets' % status)
        self.data_set(TARGET, json.dumps({'id': body['id'], 'link': body.get('link') or '%s/targets/%s' % (base, body['id'])}))

    def _unregister(self):
        target = self._target()
        base = _collector()
        if not target or base is None:
            return
        status, _ = _call('DELETE', '%s/targets/%s' % (base, target['id']))
        if status not in (200, 204, 404):
            raise exception.Error('collector answered %s to DELETE /targets/%s' % (status, target['id']))

    def _target(self):
        try:
            return json.loads(self.data().get(TARGET) or 'null')
        except ValueError:
            return None

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
        self._unregister()
        self._store(json_snippet)

    def handle_delete(self):
        self._unregister()
        return self.resource_id

    def _props(self):
        try:
            return json.loads(self.data().get(PROPS) or '{}')
        except ValueError:
            return {}

    def _value(self, key):
        props = self._props()
        rid = self.resource_id or ''
        target = self._target() or {}
        if key == 'id':
            return target.get('id') or rid
        if key == 'link':
            return target.get('link') or props.get('link') or '/targets/%s' % rid
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


class AcceptAny(constraints.BaseCustomConstraint):
    """A custom constraint of a service this Heat does not have: any value."""

    def validate(self, value, context):
        return True


def constraint_mapping():
    return {'glance.image': AcceptAny, 'nova.flavor': AcceptAny}


def resource_mapping():
    return {'Stub::ESI::Resource': EsiStub}
