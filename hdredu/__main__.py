"""``python -m hdredu train|evaluate …``: see :mod:`hdredu.cli`."""

from hdredu.cli import main

raise SystemExit(main())
