"""One module per ``csip`` subcommand (see :mod:`csip.cli`)."""
