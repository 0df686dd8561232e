//! The embedded builder: recipe -> image. Prints nothing.
