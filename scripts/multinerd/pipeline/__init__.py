"""What ships inside the model (`spacy package --code`, every module of this folder): the CJK
tokenizer, the BIO tagger, the entity scores component, the displaCy colours and the
transformer's precision setting. These modules import nothing from the project: in the package
each is a top-level copy beside the model."""
