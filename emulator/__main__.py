from emulator.process.cli import main

raise SystemExit(main())
