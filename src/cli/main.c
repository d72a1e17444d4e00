/* placeholder replaced by the CLI dispatcher */
int main(void)
{
    return 0;
}
