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

"""The benchmark's own I/O against the stack: images, tasks, a second Glance, Ceph caps.

Everything here acts as the stack's admin and is the benchmark's scaffolding, not code
under test.
"""

import datetime
import os
import signal
import subprocess
import time
import urllib.request

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class Stack(object):
    """The running stack of ``home`` as the benchmark uses it."""

    def __init__(self, state, work_dir):
        from nova.tests.live.fixtures import stack
        self.state = state
        self.work = work_dir
        self._fixture = stack.SharedStackFixture(state.home)
        self._fixture.setUp()
        self.variant = None

    def close(self):
        self.stop_variant()
        self._fixture.cleanUp()

    # --- images ---------------------------------------------------------------

    def glance(self, user='admin'):
        return self._fixture.glance(user)

    def data_file(self, size_mib):
        """A raw disk of ``size_mib`` MiB: the stack's boot disk, then random bytes.

        Random data so that neither Glance nor Ceph can skip it as zeros.
        """
        path = os.path.join(self.work, 'disk-%d.raw' % size_mib)
        if not os.path.exists(path):
            with open(self.state.boot_image, 'rb') as f:
                boot = f.read()
            with open(path + '.tmp', 'wb') as f:
                f.write(boot)
                left = size_mib * 1024 * 1024 - len(boot)
                while left > 0:
                    n = min(left, 8 * 1024 * 1024)
                    f.write(os.urandom(n))
                    left -= n
            os.replace(path + '.tmp', path)
        return path

    def upload(self, size_mib, store, user='admin', visibility='public', name='bench'):
        client = self.glance(user)
        image = client.images.create(name='%s%s-%dM' % (self.state.prefix, name, size_mib),
                                     disk_format='raw', container_format='bare',
                                     visibility=visibility)
        path = self.data_file(size_mib)
        with open(path, 'rb') as f:
            client.images.upload(image['id'], f, image_size=os.path.getsize(path),
                                 backend=store)
        deadline = time.monotonic() + 300
        while client.images.get(image['id'])['status'] != 'active':
            if time.monotonic() > deadline:
                raise RuntimeError('image %s never became active' % image['id'])
            time.sleep(0.1)
        return image['id']

    def delete_image(self, image_id):
        from glanceclient import exc
        for attempt in range(6):
            try:
                self.glance().images.delete(image_id)
                return
            except exc.HTTPNotFound:
                return
            except (exc.HTTPInternalServerError, exc.HTTPConflict):
                # SQLite "database is locked", or an import still holds the image.
                time.sleep(1 + attempt)
        LOG.warning('could not delete image %s', image_id)

    def delete_from_store(self, image_id, store):
        """Take the image out of ``store`` (if there) so that the next clone is cold."""
        sess = self._fixture.session('admin')
        url = '%s/v2/stores/%s/%s' % (self.state.glance_url, store, image_id)
        for attempt in range(8):
            if store not in self.stores(image_id):
                return
            resp = sess.delete(url, raise_exc=False, headers={'Accept': 'application/json'})
            if resp.status_code in (204, 404):
                return
            # 409 while an import still holds the image; 500 on SQLite locks.
            time.sleep(1 + attempt)
        raise RuntimeError('cannot delete %s from store %s: HTTP %s %s'
                           % (image_id, store, resp.status_code, resp.text[:300]))

    def stores(self, image_id):
        image = self.glance().images.get(image_id)
        return [s for s in (image.get('stores') or '').split(',') if s]

    def tasks(self, image_id):
        """The image's import tasks, oldest first, with parsed times."""
        sess = self._fixture.session('admin')
        resp = sess.get('%s/v2/images/%s/tasks' % (self.state.glance_url, image_id),
                        headers={'Accept': 'application/json'})
        out = []
        for task in resp.json().get('tasks', []):
            task['t_created'] = _parse_time(task['created_at'])
            task['t_updated'] = _parse_time(task['updated_at'])
            out.append(task)
        return sorted(out, key=lambda t: t['t_created'])

    def task_cause(self, task_ids):
        """What Glance's logs say made these tasks fail (the API only says "Internal")."""
        logs = [self.state.glance_log, os.path.join(self.work, 'glance-variant-api.log')]
        causes = []
        for path in logs:
            if not os.path.exists(path):
                continue
            with open(path, errors='replace') as f:
                for line in f:
                    for task_id in task_ids:
                        if 'Task %s failed with exception' % task_id in line:
                            causes.append(line.split(' [-] ', 1)[-1].strip())
        return sorted(set(causes))

    # --- a second Glance that shows locations, for upstream -------------------

    def start_variant(self):
        """Glance on port base+62 with ``show_multiple_locations = true``.

        Same database, stores and staging as the stack's Glance: one image service
        with two API servers, of which only this one shows image locations to users.
        """
        src = os.path.join(self.state.run_dir, 'glance')
        d = os.path.join(self.work, 'glance-variant')
        os.makedirs(d, exist_ok=True)
        port = self.state.data['port_base'] + 62
        url = 'http://127.0.0.1:%d' % port
        log = os.path.join(self.work, 'glance-variant-api.log')
        with open(os.path.join(src, 'glance-api.conf')) as f:
            conf = f.read()
        conf = (conf.replace('show_multiple_locations = false',
                             'show_multiple_locations = true')
                .replace('log_file = %s' % self.state.glance_log, 'log_file = %s' % log)
                .replace('worker_self_reference_url = %s' % self.state.glance_url,
                         'worker_self_reference_url = %s' % url))
        assert 'show_multiple_locations = true' in conf
        fd = os.open(os.path.join(d, 'glance-api.conf'),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(conf)
        with open(os.path.join(src, 'uwsgi.ini')) as f:
            ini = f.read()
        ini = (ini.replace('OS_GLANCE_CONFIG_DIR=%s' % src, 'OS_GLANCE_CONFIG_DIR=%s' % d)
               .replace('127.0.0.1:%d' % (port - 1), '127.0.0.1:%d' % port))
        ini = '\n'.join(
            'logto = %s' % os.path.join(self.work, 'glance-variant-uwsgi.log')
            if line.startswith('logto') else line for line in ini.splitlines()) + '\n'
        with open(os.path.join(d, 'uwsgi.ini'), 'w') as f:
            f.write(ini)
        venv = _glance_venv()
        out = open(os.path.join(self.work, 'glance-variant.stdout'), 'ab')
        proc = subprocess.Popen([os.path.join(venv, 'bin', 'uwsgi'), '--ini',
                                 os.path.join(d, 'uwsgi.ini')], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        with open(os.path.join(self.work, 'glance-variant.pid'), 'w') as f:
            f.write('%d\n' % proc.pid)
        self.variant = proc
        deadline = time.monotonic() + 90
        while not _http_ok(url + '/healthcheck'):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the variant Glance did not start; see %s' % log)
            time.sleep(0.2)
        self.variant_url = url
        return url

    def stop_variant(self):
        proc, self.variant = self.variant, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    # --- Ceph ---------------------------------------------------------------------

    def ceph(self, site, *args):
        conf = self.state.sites[site]['admin_conf']
        return subprocess.run(['timeout', '30', 'ceph', '-c', conf] + list(args),
                              check=True, capture_output=True, text=True).stdout

    def caps(self, site, client):
        """``ceph auth get`` caps of ``client`` as a flat list for ``ceph auth caps``."""
        out = self.ceph(site, 'auth', 'get', client)
        caps = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith('caps '):
                key, _, value = line[len('caps '):].partition('=')
                caps += [key.strip(), value.strip().strip('"')]
        return caps

    def set_caps(self, site, client, caps):
        self.ceph(site, 'auth', 'caps', client, *caps)

    def sweep_vms(self):
        """Remove every disk left in the ``vms`` pools (the stack is the benchmark's)."""
        import rados
        import rbd
        left = []
        for site, s in self.state.sites.items():
            cluster = rados.Rados(conffile=s['admin_conf'], name='client.admin')
            cluster.connect(timeout=15)
            try:
                with cluster.open_ioctx(s['vms_pool']) as ioctx:
                    for name in rbd.RBD().list(ioctx):
                        left.append('%s/%s' % (site, name))
                        rbd.RBD().remove(ioctx, name)
            finally:
                cluster.shutdown()
        return left


def _glance_venv():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(top, '.stack', 'venv', 'glance')


def _http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except Exception:
        return False


def _parse_time(text):
    text = text.replace('Z', '+00:00')
    return datetime.datetime.fromisoformat(text).timestamp()
