from scrapy_vastcaptcha.cli import main

raise SystemExit(main())
