#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Checks of .zuul.yaml that need no Zuul: every name it uses must resolve.

Zuul only reports a missing playbook or a misspelt parent when the job runs; these
tests catch them on every change, together with the settings the multistore job
depends on (a file default store, an RBD store Nova copies into, raw conversion).

Run by ``tools/check-docs.sh`` (step ``zuul``) with the nova venv, from this
directory so that ``nova`` is the installed series tree::

    cd tools/tests && ../../.stack/venv/nova/bin/python -m unittest test_zuul_config
"""

import configparser
import json
import os
import re

import testtools
import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

# Jobs defined outside this tree, which .zuul.yaml may name as parents or run as is.
# Each maps to the tox env it runs here (None: not a tox job).
UPSTREAM_JOBS = {
    # openstack/openstack-zuul-jobs: runs `tox -e {{ tox_envlist }}`.
    'openstack-tox': None,
    # openstack/openstack-zuul-jobs: flake8 through tox.
    'openstack-tox-pep8': 'pep8',
    # openstack/openstack-zuul-jobs: sphinx docs through tox.
    'openstack-tox-docs': 'docs',
    # openstack/devstack-plugin-ceph: devstack + Ceph (Glance, Nova, Cinder on RBD)
    # running tempest.
    'devstack-plugin-ceph-tempest-py3': None,
}

# A path of this repository as comments and descriptions write them.
REPO_PATH_RE = re.compile(
    r'(?<![\w/.$-])((?:nova|doc|tools|playbooks|releasenotes)/[\w./-]*'
    r'\.(?:py|rst|sh|yaml|txt))\b')
PLAYBOOK_KEYS = ('pre-run', 'run', 'post-run', 'cleanup-run')
RECOMMENDED_COPY_IMAGE_RULE = 'role:admin or role:service'


def _load_yaml(relpath):
    with open(os.path.join(TOP, relpath)) as f:
        return yaml.safe_load(f)


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _job_name(entry):
    """A pipeline entry is a job name or {name: {overrides}}."""
    return entry if isinstance(entry, str) else next(iter(entry))


def _ini_dict(value):
    """Glance's "name:type, name:type" DictOpt syntax as a dict."""
    pairs = (item.split(':', 1) for item in value.split(','))
    return {k.strip(): v.strip() for k, v in pairs}


class ZuulConfigTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.config = _load_yaml('.zuul.yaml')
        self.jobs = {e['job']['name']: e['job'] for e in self.config if 'job' in e}
        projects = [e['project'] for e in self.config if 'project' in e]
        self.assertEqual(1, len(projects), 'expected exactly one project stanza')
        self.project = projects[0]

    def _pipeline_jobs(self, pipeline):
        return [_job_name(j) for j in self.project.get(pipeline, {}).get('jobs', [])]

    def _known(self, name):
        return name in self.jobs or name in UPSTREAM_JOBS

    def test_top_level_entries_are_known_kinds(self):
        for entry in self.config:
            self.assertEqual(1, len(entry), entry)
            self.assertIn(next(iter(entry)), ('job', 'project'))

    def test_job_names_are_unique(self):
        names = [e['job']['name'] for e in self.config if 'job' in e]
        self.assertEqual(len(names), len(set(names)))

    def test_jobs_are_described(self):
        for name, job in self.jobs.items():
            self.assertTrue(job.get('description', '').strip(), name)

    def test_parents_resolve(self):
        for name, job in self.jobs.items():
            parent = job.get('parent')
            self.assertIsNotNone(parent, '%s has no parent' % name)
            self.assertTrue(self._known(parent),
                            '%s: parent %s is neither defined here nor in '
                            'UPSTREAM_JOBS' % (name, parent))

    def test_pipeline_jobs_resolve(self):
        for pipeline in ('check', 'gate'):
            jobs = self._pipeline_jobs(pipeline)
            self.assertTrue(jobs, pipeline)
            for name in jobs:
                self.assertTrue(self._known(name), '%s: unknown job %s' % (pipeline, name))

    def test_every_local_job_runs_in_check_and_gate(self):
        check = set(self._pipeline_jobs('check'))
        gate = set(self._pipeline_jobs('gate'))
        self.assertEqual(check, gate)
        self.assertLessEqual(set(self.jobs), check)

    def test_pipelines_cover_the_project_checks(self):
        envs = set()
        for name in self._pipeline_jobs('gate'):
            job = self.jobs.get(name, {})
            envs.add(job.get('vars', {}).get('tox_envlist') or UPSTREAM_JOBS.get(name))
        self.assertLessEqual({'py3', 'functional', 'pep8', 'docs', 'releasenotes'}, envs)
        self.assertIn('nova-ceph-multistore', self._pipeline_jobs('gate'))

    def test_tox_envs_exist(self):
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(os.path.join(TOP, 'tox.ini'))
        envs = {s.split(':', 1)[1] for s in tox.sections() if s.startswith('testenv:')}
        wanted = {UPSTREAM_JOBS[n] for n in self._pipeline_jobs('gate')
                  if UPSTREAM_JOBS.get(n)}
        for name, job in self.jobs.items():
            if job.get('parent') == 'openstack-tox':
                wanted.add(job['vars']['tox_envlist'])
        self.assertTrue(wanted)
        self.assertLessEqual(wanted, envs)

    def test_playbooks_exist_and_are_plays(self):
        seen = 0
        for name, job in self.jobs.items():
            for key in PLAYBOOK_KEYS:
                for path in _as_list(job.get(key)):
                    seen += 1
                    self.assertTrue(os.path.isfile(os.path.join(TOP, path)),
                                    '%s: %s %s does not exist' % (name, key, path))
                    plays = _load_yaml(path)
                    self.assertIsInstance(plays, list, path)
                    for play in plays:
                        self.assertIn('hosts', play, path)
                        self.assertTrue(play.get('tasks'), path)
        self.assertGreater(seen, 0)

    def test_repository_paths_named_exist(self):
        # Comments and descriptions name files of this repository; a move
        # must not leave them pointing at nothing.
        sources = ['.zuul.yaml'] + sorted(
            os.path.relpath(os.path.join(d, f), TOP)
            for d, _, files in os.walk(os.path.join(TOP, 'playbooks'))
            for f in files if f.endswith(('.yaml', '.yml')))
        for source in sources:
            with open(os.path.join(TOP, source)) as f:
                text = f.read()
            for path in set(REPO_PATH_RE.findall(text)):
                self.assertTrue(os.path.exists(os.path.join(TOP, path)),
                                '%s names %s, which does not exist'
                                % (source, path))

    def test_irrelevant_files_are_regexes(self):
        for name, job in self.jobs.items():
            for pattern in job.get('irrelevant-files', []):
                re.compile(pattern)

    def test_tox_pre_and_install_sh_read_bindep(self):
        # One list of Debian packages: both read bindep.txt, none keeps its own.
        with open(os.path.join(TOP, 'tools', 'install.sh')) as f:
            self.assertIn('bindep.txt', f.read())
        play = _load_yaml('playbooks/tox/pre.yaml')[0]
        self.assertIn("/../../bindep.txt'", play['vars']['debian_packages'])
        self.assertTrue(os.path.exists(os.path.join(TOP, 'bindep.txt')))


class MultistoreJobTestCase(testtools.TestCase):
    """The settings that make the first boot of an image a file -> RBD copy."""

    def setUp(self):
        super().setUp()
        config = _load_yaml('.zuul.yaml')
        self.job = next(e['job'] for e in config
                        if 'job' in e and e['job']['name'] == 'nova-ceph-multistore')
        self.vars = self.job['vars']
        self.post = self.vars['devstack_local_conf']['post-config']

    def test_glance_has_a_file_default_and_an_rbd_store(self):
        glance = self.post['$GLANCE_API_CONF']
        backends = _ini_dict(glance['DEFAULT']['enabled_backends'])
        default = glance['glance_store']['default_backend']
        self.assertEqual('file', backends[default])
        self.assertIn('rbd', backends.values())
        self.assertEqual(default, self.vars['devstack_localrc']['GLANCE_DEFAULT_BACKEND'])

    def test_nova_copies_into_the_rbd_store(self):
        backends = _ini_dict(
            self.post['$GLANCE_API_CONF']['DEFAULT']['enabled_backends'])
        libvirt = self.post['$NOVA_CPU_CONF']['libvirt']
        self.assertEqual('rbd', libvirt['images_type'])
        self.assertEqual('rbd', backends[libvirt['images_rbd_glance_store_name']])

    def test_images_are_converted_to_raw_on_import(self):
        self.assertTrue(self.vars['devstack_localrc']['GLANCE_USE_IMPORT_WORKFLOW'])
        imp = self.post['$GLANCE_IMAGE_IMPORT_CONF']
        self.assertIn('image_conversion', imp['image_import_opts']['image_import_plugins'])
        self.assertEqual('raw', imp['image_conversion']['output_format'])

    def test_copy_image_enabled_and_locations_hidden(self):
        default = self.post['$GLANCE_API_CONF']['DEFAULT']
        self.assertIn('copy-image', default['enabled_import_methods'])
        self.assertFalse(default['show_multiple_locations'])
        self.assertFalse(self.vars['devstack_localrc']['GLANCE_SHOW_MULTIPLE_LOCATIONS'])

    def test_nova_options_exist(self):
        # The series tree's options: upstream's plus 01-conf-options.
        from nova.conf import opts as conf_opts
        from nova.conf import rbd_glance_copy  # noqa: F401  the series' own

        registered = {group.name if hasattr(group, 'name') else group:
                      {opt.dest for opt in opts}
                      for group, opts in conf_opts.list_opts()}
        for group, values in self.post['$NOVA_CPU_CONF'].items():
            self.assertIn(group, registered)
            for option in values:
                self.assertIn(option.replace('-', '_'), registered[group],
                              '[%s] %s is not an option of this tree' % (group, option))

    def test_service_credentials_for_the_copy(self):
        # copy_credentials = service fails every copy unless [service_user]
        # has keystoneauth credentials.
        conf = self.post['$NOVA_CPU_CONF']
        if conf.get('glance', {}).get('copy_credentials') in ('service', None):
            service_user = conf.get('service_user', {})
            for option in ('auth_type', 'auth_url', 'username', 'password'):
                self.assertIn(option, service_user)

    def test_series_applied_to_devstack_nova(self):
        self.assertIn('playbooks/ceph-multistore/apply-series.yaml',
                      _as_list(self.job['pre-run']))
        nova = [p for p in self.job.get('required-projects', [])
                if isinstance(p, dict) and p.get('name') == 'openstack/nova']
        self.assertEqual(1, len(nova))
        with open(os.path.join(TOP, 'tools', 'series', 'base.json')) as f:
            version = json.load(f)['version']
        self.assertEqual(version, str(nova[0]['override-checkout']))

    def test_runs_compute_tests(self):
        self.assertTrue(re.match(self.vars['tempest_test_regex'],
                                 'tempest.api.compute.servers.test_create_server'))

    def test_policy_playbook_grants_the_documented_rule(self):
        self.assertIn('playbooks/ceph-multistore/pre.yaml', _as_list(self.job['pre-run']))
        play = _load_yaml('playbooks/ceph-multistore/pre.yaml')[0]
        self.assertEqual(RECOMMENDED_COPY_IMAGE_RULE, play['vars']['copy_image_rule'])
        self.assertEqual(
            os.path.join(play['vars']['glance_config_dir'], 'policy.yaml'),
            self.post['$GLANCE_API_CONF']['oslo_policy']['policy_file'])


# A config file as the gate's Glance and Nova have them, secrets marked SECRET.
REDACTION_SAMPLE = """\
[DEFAULT]
transport_url = rabbit://stackrabbit:SECRETrabbit@10.0.0.5:5672/
#transport_url = rabbit://olduser:SECRETold@10.0.0.6:5672/
# transport_url = rabbit://u1:SECRETa1@h1:5672,u2:SECRETa2@h2:5672/
enabled_backends = central:file, site_a:rbd
bind_port = 9292

[database]
connection = postgresql+psycopg2://glance:SECRETdb@127.0.0.1/glance?client_encoding=utf8
slave_connection = mysql+pymysql://root:SECRET/with@slash@db.example/nova
;connection = redis://:SECRETredis@cache:6379

[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000/v3
auth_url = http://127.0.0.1/identity
username = glance
password = SECRETks
# password = SECRETcommented
#admin_password=SECRETadmin
memcache_secret_key: SECRETmc

[glance_store]
rbd_store_user = glance
rbd_store_ceph_conf = /etc/ceph/ceph.conf
"""


class PostRedactionTestCase(testtools.TestCase):
    """The post playbook's redaction, rendered as Ansible renders its task.

    The task's own ``content`` template runs through Ansible's templating with the
    play's vars, so what is tested is the playbook's text, not a copy of it.
    """

    PLAYBOOK = 'playbooks/ceph-multistore/post.yaml'

    def setUp(self):
        super().setUp()
        self.play = _load_yaml(self.PLAYBOOK)[0]
        tasks = [t for t in self.play['tasks']
                 if '/config/{{ item.item' in
                 t.get('ansible.builtin.copy', {}).get('dest', '')]
        # Every config file is kept by this one task; a second would escape the tests.
        self.assertEqual(1, len(tasks), 'expected one task keeping config files')
        self.template = tasks[0]['ansible.builtin.copy']['content']
        self.assertIn('item.content | b64decode', self.template)

    def _redact(self, text):
        import base64

        from ansible.parsing.dataloader import DataLoader
        from ansible.template import Templar
        try:
            from ansible.template import trust_as_template
        except ImportError:  # ansible-core < 2.19 trusts every template
            def trust_as_template(value):
                return value

        variables = dict(self.play['vars'], ansible_user_dir='/nonexistent')
        variables['item'] = {
            'item': '/etc/glance/glance-api.conf',
            'content': base64.b64encode(text.encode()).decode()}
        templar = Templar(loader=DataLoader(), variables=variables)
        return templar.template(trust_as_template(self.template))

    def test_no_secret_is_kept(self):
        out = self._redact(REDACTION_SAMPLE)
        self.assertNotIn('SECRET', out, out)

    def test_url_credentials_keep_user_and_host(self):
        lines = self._redact(REDACTION_SAMPLE).splitlines()
        for expected in (
                'transport_url = rabbit://stackrabbit:<redacted>@10.0.0.5:5672/',
                '#transport_url = rabbit://olduser:<redacted>@10.0.0.6:5672/',
                'connection = postgresql+psycopg2://glance:<redacted>@127.0.0.1/'
                'glance?client_encoding=utf8',
                'slave_connection = mysql+pymysql://root:<redacted>@db.example/nova',
                ';connection = redis://:<redacted>@cache:6379'):
            self.assertIn(expected, lines)

    def test_secret_options_redacted_also_when_commented(self):
        lines = self._redact(REDACTION_SAMPLE).splitlines()
        for expected in ('password = <redacted>', '# password = <redacted>',
                         '#admin_password=<redacted>',
                         'memcache_secret_key: <redacted>'):
            self.assertIn(expected, lines)

    def test_other_lines_unchanged(self):
        out = self._redact(REDACTION_SAMPLE).splitlines()
        for line in REDACTION_SAMPLE.splitlines():
            if 'SECRET' not in line:
                self.assertIn(line, out)

    def test_file_without_secrets_unchanged(self):
        text = ''.join(line + '\n' for line in REDACTION_SAMPLE.splitlines()
                       if 'SECRET' not in line)
        self.assertEqual(text.rstrip('\n'), self._redact(text).rstrip('\n'))
