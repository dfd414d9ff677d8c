from ctopen.cli import main

raise SystemExit(main())
