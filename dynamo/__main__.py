from dynamo.cli import main

raise SystemExit(main())
