# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The gate job's playbooks, run with ansible-playbook against the real test stack.

The policy playbook is applied to a copy of the stack's Glance configuration (never to
the live Glance other tests share) and the result is judged by Glance's own policy
engine. The log-collection playbook gathers the stack's real logs, config and Ceph
state.
"""

import json
import os
import shutil
import subprocess
import sys

import fixtures
import testtools
from testtools import content

from nova.tests.live.fixtures import layout
from nova.tests.live.fixtures import stack

TOP = layout.REPO
PRE = os.path.join(TOP, 'playbooks', 'ceph-multistore', 'pre.yaml')
POST = os.path.join(TOP, 'playbooks', 'ceph-multistore', 'post.yaml')
RULE = 'role:admin or role:service'
PLAYBOOK_TIMEOUT = 180

# Run by the Glance venv's Python: Glance's registered policy defaults plus the policy
# file given, asked whether each role may copy_image. Prints {role: bool}.
POLICY_CHECK = """
import json, sys
from oslo_config import cfg
from oslo_policy import policy
from glance import policies
conf = cfg.ConfigOpts()
conf([], project='glance')
enforcer = policy.Enforcer(conf, policy_file=sys.argv[1])
enforcer.register_defaults(policies.list_rules())
enforcer.load_rules()
print(json.dumps({role: enforcer.enforce(
    'copy_image', {'project_id': 'p'},
    {'roles': [role], 'project_id': 'p', 'user_id': 'u'})
    for role in sys.argv[2:]}))
"""


class PlaybookTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.stack = self.useFixture(stack.SharedStackFixture())
        self.state = self.stack.state
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.glance_dir = os.path.dirname(self._glance_conf())

    def _glance_conf(self):
        return os.path.join(self.state.run_dir, 'glance', 'glance-api.conf')

    def run_playbook(self, playbook, extra_vars):
        """Run ``playbook`` on localhost; return the PLAY RECAP counters."""
        extra = dict(extra_vars, ansible_python_interpreter=sys.executable)
        vars_file = os.path.join(self.tmp, 'vars-%s.json' % len(os.listdir(self.tmp)))
        with open(vars_file, 'w') as f:
            json.dump(extra, f)
        env = dict(os.environ,
                   ANSIBLE_HOME=os.path.join(self.tmp, 'ansible-home'),
                   ANSIBLE_LOCAL_TEMP=os.path.join(self.tmp, 'ansible-tmp'),
                   ANSIBLE_LOCALHOST_WARNING='false',
                   ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='false')
        cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
               '-i', 'localhost,', '-c', 'local', '-e', '@' + vars_file, playbook]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=PLAYBOOK_TIMEOUT)
        self.addDetail('ansible-%s' % os.path.basename(playbook),
                       content.text_content(proc.stdout + proc.stderr))
        self.assertEqual(0, proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:])
        recap = proc.stdout.rsplit('PLAY RECAP', 1)[1].split(':', 1)[1].split()
        return {k: int(v) for k, v in (item.split('=') for item in recap)}

    def copy_image_allowed(self, policy_file, *roles):
        python = os.path.join(layout.Layout(self.state.home).venv('glance'),
                              'bin', 'python')
        out = subprocess.run([python, '-c', POLICY_CHECK, policy_file] + list(roles),
                             capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)

    # --- pre.yaml: the copy_image policy ------------------------------------------

    def _config_copy(self):
        """The live Glance's config files (not its stores) in a temp dir."""
        copy = os.path.join(self.tmp, 'glance-etc')
        os.mkdir(copy)
        for name in os.listdir(self.glance_dir):
            path = os.path.join(self.glance_dir, name)
            # The stack runs the admin guide's policy; the playbook starts
            # from Glance's defaults, as devstack's Glance does.
            if os.path.isfile(path) and name != 'policy.yaml':
                shutil.copy2(path, copy)
        return copy

    def test_policy_playbook_lets_the_service_role_copy(self):
        live_before = sorted(os.listdir(self.glance_dir))
        copy = self._config_copy()
        policy_file = os.path.join(copy, 'policy.yaml')
        self.assertFalse(os.path.exists(policy_file),
                         'the copy is expected to run Glance\'s defaults')
        # Glance's own default refuses the service role: the playbook must change that.
        defaults = os.path.join(self.tmp, 'empty.yaml')
        with open(defaults, 'w') as f:
            f.write('{}\n')
        self.assertEqual({'admin': True, 'service': False, 'member': False},
                         self.copy_image_allowed(defaults, 'admin', 'service', 'member'))

        recap = self.run_playbook(PRE, {'glance_config_dir': copy,
                                        'policy_become': False})
        self.assertEqual(0, recap['failed'])
        self.assertEqual({'admin': True, 'service': True, 'member': False,
                          'reader': False},
                         self.copy_image_allowed(policy_file, 'admin', 'service',
                                                 'member', 'reader'))
        # Idempotent: a second run changes nothing.
        recap = self.run_playbook(PRE, {'glance_config_dir': copy,
                                        'policy_become': False})
        self.assertEqual(0, recap['changed'])
        # The live Glance was not touched.
        self.assertEqual(live_before, sorted(os.listdir(self.glance_dir)))

    def test_policy_playbook_replaces_only_the_copy_image_rule(self):
        copy = self._config_copy()
        policy_file = os.path.join(copy, 'policy.yaml')
        with open(policy_file, 'w') as f:
            f.write('# site rules\n"copy_image": "role:admin"\n'
                    '"delete_image": "role:admin"\n')
        self.run_playbook(PRE, {'glance_config_dir': copy, 'policy_become': False})
        with open(policy_file) as f:
            lines = f.read().splitlines()
        self.assertEqual(['# site rules', '"copy_image": "%s"' % RULE,
                          '"delete_image": "role:admin"'], lines)
        allowed = self.copy_image_allowed(policy_file, 'service')
        self.assertEqual({'service': True}, allowed)

    def test_policy_playbook_refuses_a_broken_policy_file(self):
        copy = self._config_copy()
        with open(os.path.join(copy, 'policy.yaml'), 'w') as f:
            f.write('- not\n- a mapping\n')
        self.assertRaises(AssertionError, self.run_playbook, PRE,
                          {'glance_config_dir': copy, 'policy_become': False})

    # --- post.yaml: log collection --------------------------------------------------

    def test_post_playbook_collects_logs_config_and_ceph_state(self):
        dest = os.path.join(self.tmp, 'collected')
        site = sorted(self.state.sites)[0]
        admin_conf = self.state.sites[site]['admin_conf']
        missing = os.path.join(self.tmp, 'no-such.conf')
        self.run_playbook(POST, {
            'collect_dest': dest,
            'collect_log_dirs': [self.state.log_dir],
            'collect_log_files': [self.state.glance_log],
            'collect_config_files': [self._glance_conf(), missing],
            'collect_commands': {
                'ceph-status': 'timeout 30 ceph -c %s -s' % admin_conf,
                'rbd-images': 'timeout 30 rbd -c %s ls -l images' % admin_conf,
                'fails': 'false'},
            'collect_journal_units': [],
            'collect_become': False,
        })

        glance_log = os.path.join(dest, 'logs', self.state.glance_log.lstrip('/'))
        self.assertTrue(os.path.getsize(glance_log) > 0)
        with open(glance_log, 'rb') as got, open(self.state.glance_log, 'rb') as live:
            head = got.read(4096)
            self.assertEqual(live.read(len(head)), head)
        names = {n for _, _, files in os.walk(os.path.join(dest, 'logs')) for n in files}
        self.assertIn('glance-api.log', names)

        conf = os.path.join(dest, 'config',
                            self._glance_conf().lstrip('/').replace('/', '__'))
        with open(conf) as f:
            text = f.read()
        self.assertIn('<redacted>', text)
        self.assertIn('enabled_backends', text)
        for user in self.state.users.values():
            if user.get('password'):
                self.assertNotIn(user['password'], text)
        with open(os.path.join(dest, 'config', 'UNREADABLE.txt')) as f:
            self.assertIn(missing, f.read())

        with open(os.path.join(dest, 'commands', 'ceph-status.txt')) as f:
            self.assertIn(self.state.sites[site]['fsid'], f.read())
        self.assertTrue(os.path.exists(os.path.join(dest, 'commands', 'fails.txt')))
