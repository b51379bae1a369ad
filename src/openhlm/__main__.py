from openhlm.cli.main import main

raise SystemExit(main())
