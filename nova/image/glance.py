"""Thin Glance I/O: the image API calls the RBD backend needs, answers mapped to errors.

Requests go through a keystoneauth1 adapter built from the ``[glance]`` options, with
either the booting user's token (``RequestContext.get_auth_plugin``) or Nova's service
credentials (the ``[glance]`` auth options). Nothing here decides what to do next; each
Glance answer becomes a return value or a ``nova.exception`` type.

glanceclient is deliberately not in the request path: its image model moves keys that
are not in Glance's schema (``os_glance_importing_to_stores``, ``os_glance_failed_import``)
out of the top level, and its error parser raises ``AttributeError`` on the JSON error
bodies Glance 33 sends for ``Accept: application/json``.
"""

import collections
import hashlib
import html
import os
import re
import time

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_log import log as logging

import nova.conf
from nova import exception

LOG = logging.getLogger(__name__)

GROUP = 'glance'
CHUNK_SIZE = 64 * 1024
FIRST_RETRY_DELAY = 0.5
RETRY_STATUSES = frozenset((502, 503, 504))
# Seconds a store description from /v2/info/stores/detail is reused.
STORE_DETAIL_TTL = 300
_MAX_MESSAGE = 400
USER_AGENT = 'nova-rbd-multistore'

_ERRNO = re.compile(r'\[Errno -?\d+\][^\'")]*')
_TAG = re.compile(r'<[^>]*>')
_STORE_NOT_FOUND = re.compile(r'Store for identifier (\S+) not found')

# Whose credentials a request uses; `who` names them in errors and logs.
_Creds = collections.namedtuple('_Creds', ['auth', 'who', 'is_service'])


def clean_message(text):
    """Glance's error text without HTML, entities, ``<br />`` noise or extra space."""
    text = _TAG.sub(' ', text or '')
    text = ' '.join(html.unescape(text).split())
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE - 3] + '...'
    return text


def response_message(resp):
    """The human part of a Glance error answer, cleaned."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get('message'), str):
            return clean_message(body['message'])
        # Older layout: {"conflict": {"message": ...}}.
        for value in body.values():
            if isinstance(value, dict) and isinstance(value.get('message'), str):
                return clean_message(value['message'])
    text = clean_message(resp.text)
    # An HTML page repeats its title ("404 Not Found") before the explanation.
    title = '%s %s' % (resp.status_code, resp.reason or '')
    if resp.reason and text.startswith(title + ' ' + title):
        text = text[2 * len(title) + 2:]
    return text


def _connection_reason(exc):
    """Short cause of a connection failure: the errno text when there is one."""
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(0).strip()
    return clean_message(text) or type(exc).__name__


class API:
    """Glance image calls as a user or as Nova's service user."""

    def __init__(self, conf=None, session=None, sleep=time.sleep):
        self._conf = conf if conf is not None else nova.conf.CONF
        self._session = session
        self._sleep = sleep
        self._service_auth = None
        self._service_auth_loaded = False
        # store -> (monotonic time, detail) from /v2/info/stores/detail
        self._store_detail = {}

    # --- plumbing ---------------------------------------------------------------

    def _get_session(self):
        if self._session is None:
            self._session = ks_loading.load_session_from_conf_options(
                self._conf, GROUP)
        return self._session

    def _get_service_auth(self):
        """Nova's service credentials, or None when ``[glance] auth_type`` is unset."""
        if not self._service_auth_loaded:
            self._service_auth = ks_loading.load_auth_from_conf_options(
                self._conf, GROUP)
            self._service_auth_loaded = True
        return self._service_auth

    def _user_creds(self, context, image_id):
        if not context.auth_token:
            raise exception.ImageNotAuthorized(
                image_id=image_id,
                reason='the request of user %s carries no token to present to '
                       'Glance' % context.user_id)
        return _Creds(context.get_auth_plugin(), 'user %s' % context.user_id, False)

    def _service_creds(self):
        auth = self._get_service_auth()
        if auth is None:
            return None
        return _Creds(auth, "Nova's service user", True)

    def _copy_creds(self, context, image_id):
        """Credentials for copy-image per ``[glance] copy_credentials``."""
        mode = self._conf.glance.copy_credentials
        if mode == 'user':
            return self._user_creds(context, image_id)
        service = self._service_creds()
        if service is not None:
            return service
        if mode == 'service':
            raise exception.InvalidConfiguration(
                option='[glance] copy_credentials',
                reason='it is "service" but no service credentials are configured '
                       '([glance] auth_type, auth_url, username, password, ...)')
        return self._user_creds(context, image_id)

    def _adapter(self, creds, context):
        # [glance] num_retries is the one retry knob; keystoneauth must not add its own.
        return ks_loading.load_adapter_from_conf_options(
            self._conf, GROUP, session=self._get_session(), auth=creds.auth,
            user_agent=USER_AGENT, connect_retries=0, status_code_retries=0,
            global_request_id=getattr(context, 'request_id', None))

    def _endpoint(self, adapter):
        """The Glance URL requests go to, for messages; never raises."""
        try:
            return adapter.get_endpoint() or '(no image endpoint)'
        except Exception:  # noqa: B902 - only used to word an error message
            return adapter.endpoint_override or '(image endpoint from the catalog)'

    def _request(self, context, creds, method, path, **kwargs):
        """Send one request, retrying connection failures and 502/503/504.

        Returns the response whatever its status; raises GlanceConnectionFailed when
        Glance could not be reached after ``[glance] num_retries`` retries.
        """
        adapter = self._adapter(creds, context)
        headers = kwargs.pop('headers', {})
        headers.setdefault('Accept', 'application/json')
        attempts = self._conf.glance.num_retries + 1
        delay = FIRST_RETRY_DELAY
        for attempt in range(1, attempts + 1):
            try:
                resp = adapter.request(path, method, headers=headers, raise_exc=False,
                                       **kwargs)
            except ks_exc.EndpointNotFound:
                raise exception.InvalidConfiguration(
                    option='[glance] service_type/valid_interfaces/region_name',
                    reason='the service catalog of %s has no matching image endpoint '
                           '(set [glance] endpoint_override or fix the catalog)'
                           % creds.who)
            except (ks_exc.Unauthorized, ks_exc.AuthorizationFailure,
                    ks_exc.MissingAuthPlugin) as exc:
                # Only the service plugin authenticates with Keystone here.
                raise exception.InvalidConfiguration(
                    option='[glance] auth options',
                    reason='Keystone did not authenticate %s: %s' % (
                        creds.who, clean_message(str(exc))))
            except ks_exc.ConnectionError as exc:
                reason = _connection_reason(exc)
            else:
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                reason = 'HTTP %s: %s' % (resp.status_code, response_message(resp))
            if attempt < attempts:
                LOG.warning('Glance request %(method)s %(path)s failed (%(reason)s); '
                            'retry %(attempt)d of %(retries)d in %(delay).1f s',
                            {'method': method, 'path': path, 'reason': reason,
                             'attempt': attempt, 'retries': attempts - 1,
                             'delay': delay})
                self._sleep(delay)
                delay *= 2
        raise exception.GlanceConnectionFailed(
            server=self._endpoint(adapter), attempts=attempts, reason=reason)

    def _json(self, context, creds, path, image_id, action):
        resp = self._request(context, creds, 'GET', path)
        if resp.status_code != 200:
            _raise_for_read(resp, image_id, action, creds)
        return resp.json()

    # --- calls --------------------------------------------------------------------

    def show(self, context, image_id):
        """The image as Glance's JSON has it, read with the user's token."""
        return self._json(context, self._user_creds(context, image_id),
                          '/v2/images/%s' % image_id, image_id, 'show')

    def get_image_tasks(self, context, image_id):
        """The image's import tasks that the copy credentials can see.

        Glance lists only tasks owned by the caller's project (admins see all), so ask
        with the credentials Nova copies with; a non-admin service user that cannot
        see the image falls back to the user's token.
        """
        creds = self._copy_creds(context, image_id)
        path = '/v2/images/%s/tasks' % image_id
        resp = self._request(context, creds, 'GET', path)
        if resp.status_code == 404 and creds.is_service and context.auth_token:
            creds = self._user_creds(context, image_id)
            resp = self._request(context, creds, 'GET', path)
        if resp.status_code != 200:
            _raise_for_read(resp, image_id, 'get tasks', creds)
        return list(resp.json().get('tasks') or [])

    def get_locations(self, context, image_id):
        """Every location of the image: ``[{'url': ..., 'metadata': {'store': ...}}]``.

        Glance's locations API is for the service or admin role only, and a non-admin
        service user does not see other projects' private images; so try the service
        credentials, then the user's token, then the ``locations``/``direct_url``
        fields that Glance shows when ``show_multiple_locations`` or
        ``show_image_direct_url`` is on.
        """
        tried = []
        candidates = [self._service_creds()]
        if context.auth_token or candidates[0] is None:
            candidates.append(self._user_creds(context, image_id))
        for creds in filter(None, candidates):
            resp = self._request(context, creds, 'GET',
                                 '/v2/images/%s/locations' % image_id)
            if resp.status_code == 200:
                return [_location(loc) for loc in resp.json()]
            if resp.status_code == 404 and not creds.is_service:
                raise exception.ImageNotFound(image_id=image_id)
            if resp.status_code not in (403, 404):
                _raise_for_read(resp, image_id, 'get locations', creds)
            tried.append('%s: HTTP %s %s' % (
                creds.who, resp.status_code, response_message(resp)))
            LOG.debug('Locations of image %(image)s not readable by %(who)s '
                      '(HTTP %(code)s)', {'image': image_id, 'who': creds.who,
                                          'code': resp.status_code})
        image = self.show(context, image_id)
        if image.get('locations'):
            return [_location(loc) for loc in image['locations']]
        if image.get('direct_url'):
            return [{'url': image['direct_url'], 'metadata': {}}]
        raise exception.ImageNotAuthorized(
            image_id=image_id,
            reason='Glance did not reveal its locations (%s) and the image record '
                   'shows none. The locations API (policy fetch_image_location) is '
                   'for the service or admin role: configure [glance] service '
                   'credentials for a user with those roles, or enable '
                   'show_image_direct_url in Glance' % '; '.join(tried))

    def get_store_detail(self, context, store):
        """Glance's description of one store (type, and pool/fsid for rbd), or None.

        ``GET /v2/info/stores/detail`` is for the service and admin roles; without them
        this returns None and the caller does without. A store Glance does not have
        raises GlanceStoreNotFound before anything is copied. Answers are kept for
        STORE_DETAIL_TTL seconds: stores change only when Glance is reconfigured.
        """
        now = time.monotonic()
        cached = self._store_detail.get(store)
        if cached is not None and now - cached[0] < STORE_DETAIL_TTL:
            return cached[1]
        creds = self._service_creds()
        if creds is None:
            if not context.auth_token:
                return None
            creds = self._user_creds(context, '(store list)')
        resp = self._request(context, creds, 'GET', '/v2/info/stores/detail')
        if resp.status_code in (401, 403, 404):
            LOG.debug('Store details not readable by %(who)s (HTTP %(code)s)',
                      {'who': creds.who, 'code': resp.status_code})
            return None
        if resp.status_code != 200:
            _raise_for_read(resp, '(store list)', 'get store details', creds)
        stores = {s.get('id'): s for s in resp.json().get('stores') or ()}
        if store not in stores:
            raise exception.GlanceStoreNotFound(store=store, image_id='(any)')
        for name, detail in stores.items():
            self._store_detail[name] = (now, detail)
        return stores[store]

    def image_import(self, context, image_id, method='copy-image', stores=None,
                     all_stores_must_succeed=True, all_stores=False):
        """Ask Glance to import (copy) the image; returns None once Glance accepts.

        Raises ImageImportInProgress when another import holds the image (wait for
        it), ImageAlreadyInStore when there is nothing to copy.
        """
        creds = self._copy_creds(context, image_id)
        body = {'method': {'name': method},
                'all_stores_must_succeed': all_stores_must_succeed}
        if stores:
            body['stores'] = list(stores)
        if all_stores:
            body['all_stores'] = True
        store = ','.join(stores or ()) or '(all stores)'
        resp = self._request(context, creds, 'POST', '/v2/images/%s/import' % image_id,
                             json=body)
        if resp.status_code in (200, 202):
            LOG.info('Glance accepted %(method)s of image %(image)s to %(store)s '
                     'for %(who)s', {'method': method, 'image': image_id,
                                     'store': store, 'who': creds.who})
            return None
        if resp.status_code == 404 and creds.is_service and context.auth_token:
            # Missing, or only hidden from a non-admin service user? Ask as the user
            # (raises ImageNotFound when the image really is gone).
            self.show(context, image_id)
            raise exception.ImageNotVisibleToService(image_id=image_id, action=method)
        _raise_for_import(resp, image_id, method, store, creds)

    def download(self, context, image_id, dst_path=None):
        """The image data: written to ``dst_path``, or an iterator of chunks.

        The data is checked against the size and ``os_hash_value`` Glance recorded;
        a mismatch raises ImageUnacceptable (and removes ``dst_path``).
        """
        image = self.show(context, image_id)
        creds = self._user_creds(context, image_id)
        resp = self._request(context, creds, 'GET', '/v2/images/%s/file' % image_id,
                             stream=True, headers={'Accept': 'application/octet-stream'})
        if resp.status_code == 204:
            raise exception.ImageNotActive(image_id=image_id,
                                           status=image.get('status', 'without data'))
        if resp.status_code != 200:
            _raise_for_read(resp, image_id, 'download', creds)
        chunks = _verified(resp, image, image_id)
        if dst_path is None:
            return chunks
        try:
            with open(dst_path, 'wb') as dst:
                for chunk in chunks:
                    dst.write(chunk)
        except Exception:
            _remove_quietly(dst_path)
            raise
        return None


# --- helpers ----------------------------------------------------------------------

def _location(loc):
    return {'url': loc.get('url'), 'metadata': dict(loc.get('metadata') or {})}


def _raise_for_read(resp, image_id, action, creds):
    """Map an error answer to a read request (show, tasks, locations, download)."""
    code = resp.status_code
    message = response_message(resp)
    if code == 404:
        raise exception.ImageNotFound(image_id=image_id)
    if code in (401, 403):
        raise exception.ImageNotAuthorized(
            image_id=image_id,
            reason='Glance refused to %s it for %s (HTTP %s: %s)' % (
                action, creds.who, code, message))
    if code == 400:
        raise exception.ImageBadRequest(image_id=image_id, response=message)
    raise exception.NovaException(
        'Glance failed to %s image %s (HTTP %s: %s). See Glance\'s log for request '
        '%s.' % (action, image_id, code, message,
                 resp.headers.get('x-openstack-request-id', '(no request id)')))


def _raise_for_import(resp, image_id, method, store, creds):
    """Map an error answer to POST /v2/images/{id}/import."""
    code = resp.status_code
    message = response_message(resp)
    lowered = message.lower()
    if code == 409:
        if 'active task' in lowered or 'still in progress' in lowered:
            raise exception.ImageImportInProgress(image_id=image_id, reason=message)
        match = _STORE_NOT_FOUND.search(message)
        if match:
            raise exception.GlanceStoreNotFound(store=match.group(1), image_id=image_id)
        raise exception.Conflict(reason='Glance refused %s of image %s to %s: %s' % (
            method, image_id, store, message))
    if code == 400:
        if 'already present' in lowered:
            raise exception.ImageAlreadyInStore(image_id=image_id, store=store)
        if 'import method' in lowered:
            raise exception.ImageImportUnavailable(image_id=image_id, method=method,
                                                   reason=message.rstrip('.'))
        raise exception.ImageBadRequest(image_id=image_id, response=message)
    if code == 403:
        raise exception.ImageCopyNotAuthorized(image_id=image_id, store=store,
                                               who=creds.who)
    _raise_for_read(resp, image_id, method, creds)


def _verified(resp, image, image_id):
    """Yield the body's chunks; raise ImageUnacceptable at the end on a mismatch."""
    algo = image.get('os_hash_algo')
    expected = image.get('os_hash_value')
    hasher = None
    if algo and expected:
        try:
            hasher = hashlib.new(algo)
        except ValueError:
            LOG.warning('Image %(image)s has hash algorithm %(algo)s, which this '
                        'host cannot compute; checking its size only',
                        {'image': image_id, 'algo': algo})
    size = 0
    try:
        for chunk in resp.iter_content(CHUNK_SIZE):
            if not chunk:
                continue
            size += len(chunk)
            if hasher is not None:
                hasher.update(chunk)
            yield chunk
    except Exception as exc:  # noqa: B902 - requests/urllib3 errors mid-stream
        raise exception.GlanceConnectionFailed(
            server=resp.url, attempts=1,
            reason='download of image %s broke off after %d bytes: %s' % (
                image_id, size, _connection_reason(exc)))
    finally:
        resp.close()
    if image.get('size') is not None and size != image['size']:
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='downloaded %d bytes but Glance records %d; retry the boot, and '
                   'if it repeats check the image in its store' % (size, image['size']))
    if hasher is not None and hasher.hexdigest() != expected:
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='the downloaded data does not match its %s hash recorded by '
                   'Glance; the stored copy may be corrupt: check the image in its '
                   'store' % algo)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
