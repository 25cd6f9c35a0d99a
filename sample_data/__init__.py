from sample_data.generator import DEFAULT_LEARNERS, DEFAULT_START, ENTITIES, SEEDS_DIR, generate

__all__ = ["DEFAULT_LEARNERS", "DEFAULT_START", "ENTITIES", "SEEDS_DIR", "generate"]
