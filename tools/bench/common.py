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

"""What both benchmark drivers share: arguments, counters, timing and the JSON answer.

Imported by ``driver_ours.py`` (this tree's venv) and ``driver_upstream.py`` (the
upstream Nova venv), so it imports ``nova`` only inside functions, from the venv that
runs it. The counters instrument the measurement, not the code under test: they wrap
``rados.Rados.connect`` and keystoneauth's ``Session.request`` and only count.
"""

import argparse
import json
import resource
import sys
import threading
import time

import stackhome  # the drivers run with tools/bench first on sys.path

COUNTS = {'rados_connects': 0, 'glance_requests': 0}
_COUNT_LOCK = threading.Lock()
_GLANCE_URLS = []


def _bump(name):
    with _COUNT_LOCK:
        COUNTS[name] += 1


def instrument(glance_urls):
    """Count RADOS connections and HTTP requests to Glance made in this process."""
    from keystoneauth1 import session as ks_session
    import rados
    import rbd  # noqa: F401 - load it against the real class before the swap below

    _GLANCE_URLS[:] = [u.rstrip('/') for u in glance_urls]
    real_rados = rados.Rados

    class CountingRados(real_rados):
        def connect(self, *args, **kwargs):
            _bump('rados_connects')
            return super().connect(*args, **kwargs)

    # Both trees call ``rados.Rados(...)`` through the module at connect time.
    rados.Rados = CountingRados

    real_request = ks_session.Session.request

    def request(self, url, method, *args, **kwargs):
        full = url
        endpoint = kwargs.get('endpoint_override')
        if not url.startswith('http') and endpoint:
            full = endpoint.rstrip('/') + '/' + url.lstrip('/')
        if any(full.startswith(g) for g in _GLANCE_URLS) or (
                not url.startswith('http') and not endpoint):
            _bump('glance_requests')
        return real_request(self, url, method, *args, **kwargs)

    ks_session.Session.request = request


def snapshot():
    with _COUNT_LOCK:
        return dict(COUNTS)


def rss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument('scenario', choices=('hot', 'clone'),
                   help='hot: COUNT clones (and removals) of an image already local; '
                        'clone: THREADS clones at once of one image, each timed')
    p.add_argument('--stack-home', required=True)
    p.add_argument('--compute', default='compute-a')
    p.add_argument('--image', required=True)
    p.add_argument('--user', default='admin')
    p.add_argument('--count', type=int, default=1)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--warmup', type=int, default=0,
                   help='untimed clones first (warm process)')
    p.add_argument('--warm-image',
                   help='an image already local: clone it once, untimed, first so that '
                        'the process is warm (tokens, connections) as a compute host is')
    p.add_argument('--start-at', type=float, default=0.0,
                   help='wall clock (time.time) to start at, to line processes up')
    p.add_argument('--set', action='append', default=[], metavar='GROUP.OPT=VALUE',
                   help='override a nova.conf option')
    p.add_argument('--glance-url', action='append', default=[],
                   help='URLs whose requests count as Glance requests')
    p.add_argument('--keep', action='store_true', help='do not remove the clones')
    return p


def overrides(args):
    """``group.opt=value`` strings as (group, opt, value) triples."""
    out = []
    for item in args.set:
        key, _, value = item.partition('=')
        group, _, opt = key.partition('.')
        out.append((group, opt, value))
    return out


def v2_catalog(access):
    """The v3 catalog of a token in the v2 layout Nova's API receives.

    Nova (ours is upstream's with the series applied) finds Glance through the
    request context's catalog, as keystonemiddleware hands it to nova-api.
    """
    out = []
    for service in access.service_catalog.catalog:
        endpoints = {}
        for ep in service.get('endpoints', []):
            region = ep.get('region_id') or ep.get('region')
            entry = endpoints.setdefault(region, {'region': region})
            entry['%sURL' % ep['interface']] = ep['url']
        out.append({'type': service['type'], 'name': service.get('name'),
                    'endpoints': list(endpoints.values())})
    return out


def user_context(state, user):
    """A RequestContext for ``user`` of the stack, from a real Keystone token."""
    from keystoneauth1.identity import v3
    from keystoneauth1 import session as ks_session
    from nova import context

    auth = v3.Password(auth_url=state['keystone_url'], **state['users'][user])
    access = auth.get_access(ks_session.Session(auth=auth))
    return context.RequestContext(
        user_id=access.user_id, project_id=access.project_id,
        auth_token=access.auth_token, roles=access.role_names,
        service_catalog=v2_catalog(access))


def stack_state(home):
    # Refuse a home someone else could have written the state of (stackhome.py).
    stackhome.check_or_exit(home)
    with open('%s/run/stack.json' % home) as f:
        return json.load(f)


def wait_until(start_at):
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def error_of(exc):
    return {'type': type(exc).__name__, 'message': str(exc)[:600]}


def run(args, setup, clone_one, remove_one):
    """Run the scenario and print one JSON object on stdout.

    ``setup()`` returns a per-process handle; ``clone_one(handle, disk_id, image_id)``
    clones the image into a new disk; ``remove_one(handle, disk_id)`` removes that disk.
    """
    import logging
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(threadName)s %(name)s %(message)s')
    handle = setup()
    result = {'scenario': args.scenario, 'clones': [], 'rss_start_kib': rss_kib()}
    base = snapshot()

    def one(disk_id, image=args.image):
        t0 = time.monotonic()
        entry = {'disk': disk_id, 'start': time.time()}
        try:
            clone_one(handle, disk_id, image)
            entry['ok'] = True
        except Exception as e:  # the benchmark records every failure
            entry['ok'] = False
            entry['error'] = error_of(e)
        entry['seconds'] = time.monotonic() - t0
        entry['end'] = time.time()
        if entry['ok'] and not args.keep:
            try:
                remove_one(handle, disk_id)
            except Exception as e:
                entry['remove_error'] = error_of(e)
        return entry

    import uuid
    for _ in range(args.warmup):
        one(str(uuid.uuid4()))
    if args.warm_image:
        result['warm'] = one(str(uuid.uuid4()), args.warm_image)
    after_warmup = snapshot()
    wait_until(args.start_at)
    t0 = time.monotonic()
    if args.scenario == 'hot':
        for _ in range(args.count):
            before = snapshot()
            entry = one(str(uuid.uuid4()))
            after = snapshot()
            entry['glance_requests'] = after['glance_requests'] - before['glance_requests']
            entry['rados_connects'] = after['rados_connects'] - before['rados_connects']
            result['clones'].append(entry)
    else:
        entries = [None] * args.threads

        def worker(i):
            entries[i] = one(str(uuid.uuid4()))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result['clones'] = entries
    result['wall'] = time.monotonic() - t0
    end = snapshot()
    result['glance_requests'] = end['glance_requests'] - after_warmup['glance_requests']
    result['rados_connects'] = end['rados_connects'] - after_warmup['rados_connects']
    result['rados_connects_setup_and_warmup'] = (after_warmup['rados_connects']
                                                 - base['rados_connects'])
    result['rss_end_kib'] = rss_kib()
    result['maxrss_kib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(result, sys.stdout)
    sys.stdout.write('\n')
