"""A Scrapy project that crawls through captchas with scrapy-vastcaptcha.

The key and the API URL come from the environment (VASTCAPTCHA_API_KEY,
VASTCAPTCHA_API_URL), so the same project runs on the emulator and on the
real service.
"""

BOT_NAME = "shop"
SPIDER_MODULES = ["shop.spiders"]
ROBOTSTXT_OBEY = False

# Everything scrapy-vastcaptcha needs:
ADDONS = {"scrapy_vastcaptcha.Addon": 500}

# Optional: the defaults suit the real service; the emulator solves faster.
VASTCAPTCHA_TIMEOUT = 120
