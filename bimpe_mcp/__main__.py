from bimpe_mcp.cli.start import main

raise SystemExit(main())
