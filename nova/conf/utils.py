"""Helpers shared by the option group modules."""

from oslo_config import cfg


def register_group(conf, group, opts):
    """Register ``opts`` under a copy of ``group`` that belongs to ``conf`` alone.

    oslo.config keeps each group's options (and any overrides set on them) in a dict on
    the OptGroup object, and only shallow-copies the group it is given. Registering the
    module-level group object in two ConfigOpts would make them share overrides; tests
    and tools that build their own ConfigOpts per compute host must not.
    """
    conf.register_group(cfg.OptGroup(group.name, title=group.title, help=group.help))
    conf.register_opts(opts, group=group.name)
