// HERMOD_EXPORT marks what libhermod exports: its public classes and
// functions. The library is built with hidden visibility, so everything
// else in it (the net layer, the frame codec, libuv glue) stays private to
// it and cannot be bound to by mistake.
#ifndef HERMOD_EXPORT_H_
#define HERMOD_EXPORT_H_

#define HERMOD_EXPORT [[gnu::visibility("default")]]

#endif  // HERMOD_EXPORT_H_
