"""Contrastive training of the context descriptor field (DESIGN §4): the loop and its triplet dataset."""
