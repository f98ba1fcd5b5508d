"""Subcommands of the ``reidkit`` command line (see ``reidkit.cli``)."""
