from bimpe_mcp.cli import main

raise SystemExit(main())
