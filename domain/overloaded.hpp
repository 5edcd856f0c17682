// The overload set std::visit dispatches on: one lambda per alternative of a variant, so a new
// command or event type is a compile error wherever it is not handled.
#pragma once

namespace order {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;  // clang 14 (the fuzzing build) lacks aggregate CTAD

}  // namespace order
