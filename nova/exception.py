"""The one exception family of this tree.

Every exception is a :class:`NovaException` subclass named for what happened. Its
``msg_fmt`` is filled from keyword arguments, and the text is written for the operator:
what happened, why, and what to do next. Secrets never go into these arguments.
"""

import logging

LOG = logging.getLogger(__name__)


class NovaException(Exception):
    """Base exception: ``msg_fmt % kwargs``, with an HTTP-like ``code``."""

    msg_fmt = 'An unknown exception occurred.'
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        self.kwargs.setdefault('code', self.code)
        if not message:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                # A missing argument is a bug in the raiser; keep the template
                # rather than hide the original failure behind a formatting one.
                LOG.exception('Could not format %s with %s',
                              type(self).__name__, sorted(kwargs))
                message = self.msg_fmt
        self.message = message
        super().__init__(message)

    def format_message(self):
        return self.args[0]


class Invalid(NovaException):
    msg_fmt = 'Invalid input: %(reason)s'
    code = 400


class NotFound(NovaException):
    msg_fmt = 'Resource could not be found.'
    code = 404


class Forbidden(NovaException):
    msg_fmt = 'Forbidden.'
    code = 403


class Conflict(NovaException):
    msg_fmt = 'Conflict: %(reason)s'
    code = 409


class InvalidConfiguration(Invalid):
    msg_fmt = ('Configuration option %(option)s is not valid: %(reason)s. '
               'Fix it in nova.conf and restart.')


# --- Images and Glance ---------------------------------------------------------------

class ImageNotFound(NotFound):
    msg_fmt = ('Image %(image_id)s could not be found in Glance: it does not exist, '
               'was deleted, or is not visible to this project.')


class ImageNotAuthorized(Forbidden):
    msg_fmt = ('Not authorized for image %(image_id)s: %(reason)s')


class ImageCopyNotAuthorized(Forbidden):
    msg_fmt = ('Glance refused to copy image %(image_id)s to store %(store)s for '
               '%(who)s (HTTP 403): the copy_image policy does not allow it. Either '
               'configure service credentials in [glance] (auth_type, username, ...) '
               'for a user that Glance allows to copy images (for example the policy '
               'rule "copy_image": "role:admin or role:service"), or grant the '
               'admin role. See the multistore admin guide.')


class ImageImportInProgress(Conflict):
    """Another import is running on the image: not a failure, wait for it."""

    msg_fmt = ('Glance is already importing image %(image_id)s (%(reason)s).')


class ImageAlreadyInStore(Conflict):
    """copy-image to a store that holds the image already: the copy is done."""

    msg_fmt = 'Image %(image_id)s is already present in Glance store %(store)s.'


class GlanceStoreNotFound(InvalidConfiguration):
    msg_fmt = ('Glance has no store named %(store)s (image %(image_id)s). Set '
               '[libvirt] images_rbd_glance_store_name to one of the stores in '
               'Glance\'s enabled_backends.')


class ImageImportUnavailable(NovaException):
    msg_fmt = ('Glance cannot import image %(image_id)s with method %(method)s: '
               '%(reason)s. Enable it in Glance\'s enabled_import_methods.')
    code = 400


class ImageBadRequest(Invalid):
    msg_fmt = 'Glance rejected the request for image %(image_id)s: %(response)s'


class GlanceConnectionFailed(NovaException):
    msg_fmt = ('Connection to the Glance API at %(server)s failed after '
               '%(attempts)s attempt(s): %(reason)s. Check that Glance is running '
               'and reachable, and [glance] num_retries.')
    code = 503


class ImageNotActive(Invalid):
    msg_fmt = ('Image %(image_id)s is %(status)s, not active: it has no data to boot '
               'from yet. Wait for its upload or import to finish.')
    code = 409


class ImageUnacceptable(Invalid):
    msg_fmt = 'Image %(image_id)s is unacceptable: %(reason)s'


class ImageNotCloneable(ImageUnacceptable):
    """No location in this cluster and no way to make one: a flat download may do."""

    msg_fmt = ('Image %(image_id)s cannot be cloned in this Ceph cluster: %(reason)s')


class ImageDiskFormatUnsupported(Invalid):
    msg_fmt = ('Image %(image_id)s has disk_format %(disk_format)s; the rbd image '
               'backend boots raw images only. Convert it (qemu-img convert -O raw) '
               'and upload it again, or enable Glance\'s image conversion '
               '(image_conversion import plugin, output_format = raw).')


class ImageDownloadRefused(Invalid):
    msg_fmt = ('Image %(image_id)s is not in this host\'s Ceph cluster and '
               '[workarounds] never_download_image_if_on_rbd forbids downloading it: '
               '%(reason)s')


class GlanceStoreWrongCluster(InvalidConfiguration):
    msg_fmt = ('Glance store %(store)s keeps its images in the Ceph cluster '
               '%(store_fsid)s, but this host\'s cluster is %(local_fsid)s (%(conf)s), '
               'so a copy there cannot be cloned here. Set [libvirt] '
               'images_rbd_glance_store_name to the store in this host\'s cluster.')


class ImageCopyFailed(NovaException):
    msg_fmt = ('Glance failed to copy image %(image_id)s to store %(store)s '
               '%(attempts)s time(s): %(reason)s')


class ImageCopyTimeout(NovaException):
    msg_fmt = ('Image %(image_id)s did not reach Glance store %(store)s within '
               '%(timeout)s s: %(detail)s. Raise [libvirt] '
               'images_rbd_glance_copy_timeout for large images, or see Glance\'s '
               'log for the import task.')
    code = 504


# --- Ceph / RBD ----------------------------------------------------------------------

class StorageError(NovaException):
    msg_fmt = 'Storage error: %(reason)s'


class CephConnectionFailed(StorageError):
    msg_fmt = ('Cannot connect to the Ceph cluster of %(conf)s as %(user)s: '
               '%(reason)s. Check [libvirt] images_rbd_ceph_conf, rbd_user, the '
               'keyring and rbd_connect_timeout.')


class InvalidRbdLocation(Invalid):
    msg_fmt = 'Not a valid RBD location %(location)r: %(reason)s'


class RbdImageNotFound(NotFound):
    msg_fmt = 'RBD image %(pool)s/%(name)s does not exist.'


class RbdImageExists(StorageError):
    msg_fmt = ('Cannot %(action)s: RBD image %(pool)s/%(name)s already exists. '
               'Remove it if it is left over from a failed boot.')


class RbdImageBusy(StorageError):
    msg_fmt = ('RBD image %(pool)s/%(name)s is in use and was not removed: '
               '%(reason)s')


# --- Instances (driver slice) --------------------------------------------------------

class InstanceNotFound(NotFound):
    msg_fmt = 'Instance %(instance_id)s could not be found.'


class InstanceExists(Conflict):
    msg_fmt = 'Instance %(name)s already exists.'


class InstanceDeployFailure(NovaException):
    msg_fmt = 'Failed to deploy instance %(instance_id)s: %(reason)s'


class ImageNotVisibleToService(ImageCopyNotAuthorized):
    """The user can read the image; Nova's service user cannot (Glance says 404)."""

    msg_fmt = ('Nova\'s service user cannot see image %(image_id)s (Glance answered '
               '404 to %(action)s although the booting user can read it): Glance '
               'hides other projects\' private images from users without the admin '
               'role. Give the [glance] service user the admin role, or share the '
               'image with its project.')


class HypervisorUnavailable(NovaException):
    msg_fmt = ('Cannot connect to libvirt at %(uri)s: %(reason)s. Check that libvirtd '
               'and virtlogd are running and [libvirt] connection_uri.')
    code = 503


class GuestMarkerTimeout(NovaException):
    msg_fmt = ('Instance %(uuid)s started but %(marker)r did not appear on its serial '
               'console (%(path)s) within %(timeout)s s. The guest is left running: '
               'look at the console log, then destroy it.')


class AuthenticationFailed(NovaException):
    msg_fmt = 'Cannot authenticate: %(reason)s'
    code = 401
