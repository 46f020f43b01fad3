"""Scrapy signals sent by :class:`~scrapy_vastcaptcha.VastCaptchaMiddleware`.

Connect with ``crawler.signals.connect(handler, signal=captcha_solved)``.
Every signal gets ``request`` (the request whose response showed the captcha)
and ``captcha`` (a :class:`~scrapy_vastcaptcha.captcha.Captcha`):

* ``captcha_detected``: also ``response``.
* ``captcha_solved``: also ``result`` (a :class:`~scrapy_vastcaptcha.SolveResult`).
* ``captcha_failed``: also ``error`` (the exception).
"""

captcha_detected = object()
captcha_solved = object()
captcha_failed = object()
