//! One line of a shown document: its sanitised text and what kind of line it is. Apart from
//! the document, so highlighting and search can use it without depending on the document.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineClass {
    Normal,
    /// The `Transcript started, output file is …` line: metadata, shown dimmed.
    Meta,
    Error,
    Warning,
    /// Table headers and their `----` rules.
    Heading,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub class: LineClass,
}
