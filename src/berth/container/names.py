"""Random container names in docker's adjective_noun style."""
import os

_ADJECTIVES = ("brave calm eager fancy gentle happy jolly keen lucid merry nimble proud quirky "
               "serene sharp swift tender upbeat vivid witty zealous bold clever cosmic daring").split()
_NOUNS = ("ada babbage curie darwin euler fermi gauss hopper hypatia joule kepler lovelace "
          "meitner newton noether pascal planck ritchie shannon tesla turing volta wozniak").split()


def random_name() -> str:
    # os.urandom rather than the random module, whose import costs more than a name is worth
    a, n = os.urandom(2)
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_NOUNS[n % len(_NOUNS)]}"
