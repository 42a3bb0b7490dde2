// (A C target needs a source file; the declaration is all this one provides.)
