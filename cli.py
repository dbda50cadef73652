"""`python cli.py …` from a checkout: the same app as the `zoo` script."""

from zoo.cli import main

if __name__ == "__main__":
    main()
