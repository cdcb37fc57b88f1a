from pe.main import main

raise SystemExit(main())
