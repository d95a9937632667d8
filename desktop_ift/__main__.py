from desktop_ift.cli import main

raise SystemExit(main())
